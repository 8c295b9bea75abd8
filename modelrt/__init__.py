"""The wire package: generated protobuf code (v1/) and the value codec shared by all sides."""
