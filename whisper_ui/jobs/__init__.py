"""Job lifecycle: queue, dispatcher and event bus."""
