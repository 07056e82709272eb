//! [`SocketSlot`] caps the job WebSockets a user may hold open on this instance (counted in
//! memory: sockets are per instance).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::state::AppState;

/// Job WebSockets open on this instance, per user.
#[derive(Debug, Default)]
pub struct OpenSockets {
    users: Mutex<HashMap<i64, u32>>,
}

/// One open job WebSocket, counted until dropped.
#[derive(Debug)]
pub struct SocketSlot {
    state: AppState,
    user_id: i64,
}

impl SocketSlot {
    /// Takes one of the user's `max_websockets_per_user` slots, or `None` when all are in use.
    pub fn take(state: &AppState, user_id: i64) -> Option<Self> {
        let limit = state.settings.max_websockets_per_user;
        let mut users = state.open_sockets.users.lock().ok()?;
        let open = users.entry(user_id).or_default();
        if limit > 0 && *open >= limit {
            return None;
        }
        *open += 1;
        Some(Self {
            state: state.clone(),
            user_id,
        })
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        if let Ok(mut users) = self.state.open_sockets.users.lock()
            && let Some(open) = users.get_mut(&self.user_id)
        {
            *open = open.saturating_sub(1);
            if *open == 0 {
                users.remove(&self.user_id);
            }
        }
    }
}
