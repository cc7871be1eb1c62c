"""The progress ledger's domain: courses, enrollments and the application that guards them."""
