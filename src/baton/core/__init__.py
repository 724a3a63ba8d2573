"""Pure domain: manifest, signatures, gate rules, roles, sizing. No I/O, no framework imports."""
