"""Collectors: MQTT devices and Modbus heat meters into the store."""
