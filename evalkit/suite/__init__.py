"""The suite file: its pydantic models and loading, prompt versions, YAML reading, growth settings and lint."""
