"""dagcore.tools."""
