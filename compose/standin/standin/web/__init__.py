"""The stand-in's web process (in place of Puma + Rails), built on aiohttp."""
