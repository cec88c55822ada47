// Carrier translation unit for the tests' precompiled header.
