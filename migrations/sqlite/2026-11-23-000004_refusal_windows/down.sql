DROP TABLE refusal_windows;
