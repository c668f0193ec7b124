//! The HTML report with inline SVG and the CSV/JSON tables behind it.
