"""Exam banks: import any real question spreadsheet (``importer``), turn it into QA and choice pairs
(``convert``), fix a question (``edit``). ``read`` turns files into text cells, ``mapping`` decides which
column holds what; the row-by-row parsing itself runs as set-based SQL in ``store.exam_cells`` and
``store.exam_parse``. What a question must satisfy is ``studio.core.exam_rules``, for every path.
"""
