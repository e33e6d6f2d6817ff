"""The figures a team lead reads: URL filters, KPI queries, the calls list and its search, rollups, reports."""
