"""ONNX Runtime at query time: export, the on-disk cache, sessions and int8 quantisation."""
