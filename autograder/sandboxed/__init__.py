"""Everything that may run next to a student's code, and nothing secret.

This folder is the trust boundary: the grader stages it whole (with ``course_lib``) into every
sandbox, and the processes that run a student's code import nothing else of the grader. The
launcher (``launcher``) starts the kernel and the answers process in the sandbox; the answers
server (``answers_server``) runs the answer cells and serves the scorer's calls; both sides of that
process boundary speak ``protocol`` (data only, no pickles) and join gradients with ``jacobians``.
Students may read all of it.
"""
