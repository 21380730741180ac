"""The hostile-input battery's parts: record generators, the Luhn scanner, request-path rules
and the accounting that matches every hostile record to what the pipeline did with it."""
