"""Example hand-overs, built locally from data that ships with scikit-learn."""
