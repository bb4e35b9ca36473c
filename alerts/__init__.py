"""Alert ingest, crossmatch, classification, filters and live dashboards."""
