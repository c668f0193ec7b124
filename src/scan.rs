//! The scan stage wired end to end: ingest → parse → correlate → classify → aggregate.
