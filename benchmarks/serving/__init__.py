"""`make bench`: Fascia under its production server against a minimal floor app (issue 16)."""
