"""The heating company's district: records, config and the reading data model."""
