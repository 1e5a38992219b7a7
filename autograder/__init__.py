"""Instructor side of the course: releasing student notebooks, hidden checks and grading.

Not installed with ``course_lib`` (students never get it); commands run it from the repository
root, where ``python -m autograder.<module>`` finds it.
"""
