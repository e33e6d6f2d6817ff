"""The figures a team lead reads: URL filters, SQL scope, figures per period and per agent, the calls list and
its search, rollups, reports."""
