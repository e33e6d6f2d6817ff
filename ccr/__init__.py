"""CallCenterRate: self-hosted, French-first call-centre quality scoring."""

__version__ = "0.1.0"
