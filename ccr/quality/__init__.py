"""Human work on evaluations: storing them, the review queue (the one « à revoir » rule), overrides."""
