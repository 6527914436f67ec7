"""What a project and its machine say, read without importing the app: the settings with their provenance,
the source tree's facts, `.warp/environment`, lock files, the declared process types, and the machine."""
