"""The Textual UI. Domain packages never import it."""
