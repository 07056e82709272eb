use super::*;

fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    Settings::load(&Sources {
        variables: vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Sources::default()
    })
}

#[test]
fn defaults_load_without_any_source() {
    let settings = load(&[]).unwrap();
    assert_eq!(settings.port, 8000);
    assert_eq!(settings.admin_token, "dev-admin");
    assert!(settings.base_media_root.is_absolute());
    assert!(settings.auth_database().starts_with("sqlite://"));
    assert_eq!(settings.max_upload_bytes(), Some(32 * 1024 * 1024));
}

#[test]
fn variables_are_typed_by_the_setting_not_by_their_look() {
    let settings = load(&[
        ("RECOZIK_WEB_PORT", "9001"),
        ("RECOZIK_WEB_ADMIN_TOKEN", "123456789012345678901234"),
        ("recozik_web_production_mode", "on"),
        ("RECOZIK_WEB_READONLY_QUOTA_ACOUSTID", "50"),
        ("RECOZIK_WEB_AUDD_TOKEN", ""),
        ("OTHER_VARIABLE", "ignored"),
        ("RECOZIK_WEB_API_BASE", "http://dashboard-only"),
    ])
    .unwrap();
    assert_eq!(settings.port, 9001);
    assert_eq!(settings.admin_token, "123456789012345678901234");
    assert!(settings.production_mode);
    assert_eq!(settings.readonly_quota_acoustid, Some(50));
    assert_eq!(settings.audd_token, None);
}

#[test]
fn text_settings_keep_their_exact_text_and_optional_ones_read_blank_as_unset() {
    let settings = load(&[
        ("RECOZIK_WEB_ADMIN_TOKEN", "000123456789012345678901"),
        ("RECOZIK_WEB_ADMIN_PASSWORD", "true"),
        ("RECOZIK_WEB_READONLY_TOKEN", "  "),
        ("RECOZIK_WEB_READONLY_QUOTA_MUSICBRAINZ", ""),
        ("RECOZIK_WEB_WORKERS", "3"),
        ("RECOZIK_WEB_CACHE_ENABLED", "off"),
    ])
    .unwrap();
    assert_eq!(settings.admin_token, "000123456789012345678901");
    assert_eq!(settings.admin_password, "true");
    assert_eq!(settings.readonly_token, None);
    assert_eq!(settings.readonly_quota_musicbrainz, None);
    assert_eq!(settings.workers, 3);
    assert!(!settings.cache_enabled);
    let error = load(&[("RECOZIK_WEB_READONLY_QUOTA_ACOUSTID", "many")])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("RECOZIK_WEB_READONLY_QUOTA_ACOUSTID"),
        "{error}"
    );

    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("recozik.toml");
    std::fs::write(&toml, "readonly_quota_acoustid = 12\naudd_token = \"\"\n").unwrap();
    let from_file = Settings::load(&Sources {
        toml_file: Some(toml),
        ..Sources::default()
    })
    .unwrap();
    assert_eq!(from_file.readonly_quota_acoustid, Some(12));
    assert_eq!(from_file.audd_token, None);
}

#[test]
fn lists_accept_json_arrays_and_comma_separated_values() {
    let json = load(&[(
        "RECOZIK_WEB_CORS_ORIGINS",
        r#"["https://a.example", " https://b.example "]"#,
    )])
    .unwrap();
    assert_eq!(
        json.cors_origins,
        ["https://a.example", "https://b.example"]
    );
    let commas = load(&[("RECOZIK_WEB_ALLOWED_UPLOAD_EXTENSIONS", "MP3, flac,,.Wav")]).unwrap();
    assert_eq!(commas.allowed_upload_extensions, [".mp3", ".flac", ".wav"]);
}

#[test]
fn invalid_values_name_the_variable() {
    for (name, value) in [
        ("RECOZIK_WEB_PORT", "eighty"),
        ("RECOZIK_WEB_PORT", "70000"),
        ("RECOZIK_WEB_CACHE_ENABLED", "maybe"),
        ("RECOZIK_WEB_UPLOAD_SUBDIR", "../outside"),
        ("RECOZIK_WEB_LOG_FORMAT", "xml"),
        ("RECOZIK_WEB_CORS_ORIGINS", "[not json"),
        ("RECOZIK_WEB_NO_SUCH_SETTING", "1"),
        ("RECOZIK_WEB_CORS_ORIGINS", "*"),
        (
            "RECOZIK_WEB_CORS_ORIGINS",
            "https://ok.example,https://bad.example/path",
        ),
    ] {
        let error = load(&[(name, value)]).expect_err(name).to_string();
        assert!(error.contains(name), "{name}={value}: {error}");
    }
}

#[test]
fn later_sources_override_earlier_ones() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("recozik.toml");
    std::fs::write(
        &toml,
        "port = 7000\nlog_level = \"debug\"\nworkers = 3\ncors_origins = [\"https://x.example\"]\n",
    )
    .unwrap();
    let dotenv = dir.path().join(".env");
    std::fs::write(&dotenv, "RECOZIK_WEB_PORT=7100\nRECOZIK_WEB_WORKERS=4\n").unwrap();
    let settings = Settings::load(&Sources {
        toml_file: Some(toml),
        dotenv_file: Some(dotenv),
        variables: vec![("RECOZIK_WEB_PORT".to_owned(), "7200".to_owned())],
    })
    .unwrap();
    assert_eq!(settings.port, 7200, "environment wins");
    assert_eq!(settings.workers, 4, ".env beats the TOML file");
    assert_eq!(settings.log_level, "debug", "the TOML file beats defaults");
    assert_eq!(settings.cors_origins, ["https://x.example"]);
}

#[test]
fn a_missing_settings_file_is_an_error() {
    let error = Settings::load(&Sources {
        toml_file: Some(PathBuf::from("/nonexistent/recozik.toml")),
        ..Sources::default()
    })
    .unwrap_err();
    assert!(matches!(error, SettingsError::File { .. }));
}

#[test]
fn uploads_can_be_turned_off() {
    assert_eq!(
        load(&[("RECOZIK_WEB_MAX_UPLOAD_MB", "0")])
            .unwrap()
            .max_upload_bytes(),
        None
    );
    assert_eq!(
        load(&[("RECOZIK_WEB_MAX_UPLOAD_MB", "-5")])
            .unwrap()
            .max_upload_bytes(),
        None
    );
}

#[test]
fn batch_settings_load_and_their_bounds_are_checked() {
    let settings = load(&[
        ("RECOZIK_WEB_ACOUSTID_REQUESTS_PER_SECOND", "2.5"),
        ("RECOZIK_WEB_ACOUSTID_BATCH_SIZE", "7"),
        ("RECOZIK_WEB_MAX_BATCH_FILES", "500"),
    ])
    .unwrap();
    assert!((settings.acoustid_requests_per_second - 2.5).abs() < f64::EPSILON);
    assert!((settings.services_config().acoustid.requests_per_second - 2.5).abs() < f64::EPSILON);
    assert_eq!(settings.acoustid_batch_size, 7);
    assert_eq!(settings.max_batch_files, 500);
    assert!(
        (load(&[("RECOZIK_WEB_ACOUSTID_REQUESTS_PER_SECOND", "3")])
            .unwrap()
            .acoustid_requests_per_second
            - 3.0)
            .abs()
            < f64::EPSILON
    );
    for (name, value) in [
        ("RECOZIK_WEB_ACOUSTID_REQUESTS_PER_SECOND", "0"),
        ("RECOZIK_WEB_ACOUSTID_REQUESTS_PER_SECOND", "-1"),
        ("RECOZIK_WEB_ACOUSTID_REQUESTS_PER_SECOND", "NaN"),
        ("RECOZIK_WEB_ACOUSTID_BATCH_SIZE", "21"),
        ("RECOZIK_WEB_ACOUSTID_BATCH_SIZE", "0"),
        ("RECOZIK_WEB_MAX_BATCH_FILES", "0"),
    ] {
        let error = load(&[(name, value)]).unwrap_err().to_string();
        assert!(error.contains(name), "{name}={value}: {error}");
    }
}
