# One PostgreSQL gradebook for several grading machines (book page "For instructors").
# Run from the course directory; every nbgrader command names the same database.
# tests/test_postgres.py runs this file as it is (with its own $DB) and compares the export with SQLite's.
export DB="postgresql+psycopg://grader@dbhost/kd"
nbgrader db student import roster.csv --CourseDirectory.db_url="$DB"                  # once: the roster
nbgrader db assignment add losses --duedate="2026-12-04 23:59:00 Europe/Berlin" --CourseDirectory.db_url="$DB"
nbgrader generate_assignment losses --force --CourseDirectory.db_url="$DB"         # --force: exercises/ exists
python -m kdutils.course autograde losses --db-url "$DB" --shard 1/2 --jobs 2      # machine 1
python -m kdutils.course autograde losses --db-url "$DB" --shard 2/2 --jobs 2      # machine 2
python -m kdutils.course report losses --db-url "$DB"
nbgrader export --CourseDirectory.db_url="$DB"                                     # grades.csv
