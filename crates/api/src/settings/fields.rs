//! Serde helpers for setting values: optional settings where blank means unset, and lists
//! given as arrays, JSON text or comma-separated text.

use serde::{Deserialize, Deserializer};

/// An optional setting: absent, null or blank text means "not set"; otherwise the value (text
/// from a variable, or a TOML string or number) is parsed as the setting's type.
pub(super) fn blank_is_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    struct Optional<T>(std::marker::PhantomData<T>);

    impl<T: std::str::FromStr> Optional<T>
    where
        T::Err: std::fmt::Display,
    {
        fn parse<E: serde::de::Error>(text: &str) -> Result<Option<T>, E> {
            if text.trim().is_empty() {
                return Ok(None);
            }
            text.parse()
                .map(Some)
                .map_err(|error| E::custom(format!("`{text}`: {error}")))
        }
    }

    impl<'de, T: std::str::FromStr> serde::de::Visitor<'de> for Optional<T>
    where
        T::Err: std::fmt::Display,
    {
        type Value = Option<T>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("a value, or nothing")
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, inner: D2) -> Result<Self::Value, D2::Error> {
            inner.deserialize_any(self)
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Self::parse(text)
        }
        fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<Self::Value, E> {
            Self::parse(&number.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, number: i64) -> Result<Self::Value, E> {
            Self::parse(&number.to_string())
        }
    }

    deserializer.deserialize_option(Optional(std::marker::PhantomData))
}

/// Accepts a list as an array (TOML, JSON) or as one string: a JSON array, or comma-separated.
pub(super) fn string_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::List(items) => Ok(clean(items)),
        Raw::Text(text) if text.trim_start().starts_with('[') => {
            serde_json::from_str::<Vec<String>>(&text)
                .map(clean)
                .map_err(|error| {
                    serde::de::Error::custom(format!("not a JSON array of strings: {error}"))
                })
        }
        Raw::Text(text) => Ok(clean(text.split(',').map(str::to_owned).collect())),
    }
}

fn clean(items: Vec<String>) -> Vec<String> {
    items
        .into_iter()
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}
