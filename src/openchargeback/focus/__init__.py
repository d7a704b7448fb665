"""FOCUS reading: version detection, the column map, value normalisation and
problems with file:line. Streams batches; never holds a file in memory."""
