from wedraw.core.alembic_env import run

run()
