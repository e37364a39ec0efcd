"""Helpers of nohaven.interop: names, the XML writer, the HI-1 message writer and reader, the JSON form."""
