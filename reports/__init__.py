"""Reports of a run or a comparison: self-contained HTML, PDF, JSON, Markdown and JUnit XML (docs/reports.md)."""

from reports.build import FORMATS, build_report, render
from reports.data import ReportData, load_report_data

__all__ = ["FORMATS", "build_report", "render", "ReportData", "load_report_data"]
