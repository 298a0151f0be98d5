"""Source kinds, one file each: file (CSV/XLSX drop folder), http, sql, xml."""
