"""Reports of a run or a comparison: self-contained HTML, PDF, JSON, Markdown and JUnit XML (docs/reports.md)."""

from reports.build import FORMATS, SUFFIXES, build_report, render, write_report
from reports.data import ReportData, load_report_data

__all__ = ["FORMATS", "SUFFIXES", "build_report", "render", "write_report", "ReportData", "load_report_data"]
