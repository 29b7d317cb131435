"""The demo (``python -m autograder demo``) and its synthetic class, outside the library's core:
a scratch course, students with correct answers, typical mistakes and broken files, graded end to
end. The tests reuse the students' mistakes (``tests/lesson_mistakes``)."""
