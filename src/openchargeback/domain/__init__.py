"""Pure Python domain: money, periods, charges, errors. Imports nothing of ours."""
