"""编制核查工作台 — staffing-verification workbench."""

__version__ = "0.1.0"
