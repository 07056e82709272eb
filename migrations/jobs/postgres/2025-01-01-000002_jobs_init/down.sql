DROP TABLE lookup_cache;
DROP TABLE job_events;
DROP TABLE jobs;
