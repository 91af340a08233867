"""`python -m forewarn.config.schema` prints the route manifest's JSON Schema (shipped in config/schemas/)."""
import json

from forewarn.config import manifest_schema

if __name__ == "__main__":
    print(json.dumps(manifest_schema(), indent=1))
