"""nbgrader for the instructor: the course root is the autograder's instructor folder.

``python -m autograder`` keeps gradebook.db, submitted/, autograded/ and feedback/ in the
instructor folder ($LRLAB_INSTRUCTOR, ~/grading); with that folder as nbgrader's course root,
``nbgrader collect`` (formgrader's Collect) files submissions where the autograder grades them,
and the formgrader shows and edits the same gradebook. It must lie inside the server's root
(the home), or the formgrader refuses to work. Sources and releases are those of the
instructor's copy of the course repository ($LRLAB_COURSE_REPO, ~/lrlab). The formgrader's
Generate Feedback makes the pages ``python -m autograder feedback`` makes: hidden tests redacted
and checked against the source, nothing from a student's notebook live.
"""
import os
from pathlib import Path

from autograder.preprocessors import configure_feedback

COURSE_REPO = Path(os.environ.get("LRLAB_COURSE_REPO", Path.home() / "lrlab"))

c = get_config()  # noqa: F821
c.CourseDirectory.root = os.environ.get("LRLAB_INSTRUCTOR", str(Path.home() / "grading"))
c.CourseDirectory.source_directory = str(COURSE_REPO / "solutions")
c.CourseDirectory.release_directory = str(COURSE_REPO / "exercises")
configure_feedback(c)
