DROP TABLE quota_usage;
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE users;
