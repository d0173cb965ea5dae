"""One presentation for the command line, the dashboard and the reports.

Frames (curves, timelines, lab maps as DataFrames), Plotly figure builders, server-side downsampling,
and the text of figures (units, rounding, interval labels), so a number reads the same everywhere.
Nothing here reads the store or Streamlit: inputs are DataFrames and summaries, outputs are frames,
figures and strings.
"""
