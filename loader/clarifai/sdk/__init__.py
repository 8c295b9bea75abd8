"""modelrt's stand-in for the ``clarifai`` SDK, served to bundle code when it is not installed.

Only what model code imports: ModelClass and its method marker, the old ModelRunner base,
Param, the data types (Text, Image, Audio, Video, Concept, Region, Frame, NamedFields, JSON,
Stream), the checkpoint-finding ModelBuilder and the logger. When the real SDK is installed,
bundles get it.
"""
