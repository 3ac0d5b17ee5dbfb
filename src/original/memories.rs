//! The original's three memory tables (`ai_memory/migrations/0001`-`0005`):
//! the columns read from each and how a row becomes what a caller would send
//! to store it here. Two things change on the way:
//!
//! - `hp_remaining_pct` is a fraction in the original (its model: "0.0 =
//!   dead, 0.95 = easy win") and a percentage here: multiplied by 100; a value
//!   outside 0..1 is refused rather than guessed at;
//! - lore tags were stored as their files wrote them; here they are trimmed,
//!   sorted and deduplicated, as every lore write stores them (the access rule
//!   compares sets, so no entry becomes readable by anyone new).

use chrono::{DateTime, Utc};

use crate::db::SqlValue;
use crate::db::columns::{ColType::*, Column as C};
use crate::memory::{ImportedMemory, NewCombatMemory, NewLoreMemory, NewNpcMemory};

pub const NPC_TABLE: &str = "ai_memory_npcmemory";
pub const COMBAT_TABLE: &str = "ai_memory_combatmemory";
pub const LORE_TABLE: &str = "ai_memory_lorememory";
pub const TABLES: [&str; 3] = [NPC_TABLE, COMBAT_TABLE, LORE_TABLE];

pub const NPC_COLUMNS: [C; 10] = [
    C::same("npc_id", Int),
    C::same("speaker_id", Int),
    C::same("speaker_name", Text),
    C::same("npc_name", Text),
    C::same("user_message", Text),
    C::same("assistant_message", Text),
    C::same("summary", Text),
    C::same("interaction_type", Text),
    C::same("created_at", Time),
    C::same("embedding", Vector),
];

pub const COMBAT_COLUMNS: [C; 13] = [
    C::same("mob_type", Text),
    C::same("mob_level", Int),
    C::same("mob_name", Text),
    C::same("party_composition", Json),
    C::same("party_size", Int),
    C::same("mob_tactics", Text),
    C::same("enemy_tactics", Text),
    C::same("rounds_survived", Int),
    C::same("outcome", Text),
    C::same("hp_remaining_pct", Float),
    C::same("summary", Text),
    C::same("created_at", Time),
    C::same("embedding", Vector),
];

pub const LORE_COLUMNS: [C; 8] = [
    C::same("title", Text),
    C::same("content", Text),
    C::same("scope_level", Text),
    C::same("scope_tags", Json),
    C::same("source", Text),
    C::same("created_at", Time),
    C::same("updated_at", Time),
    C::same("embedding", Vector),
];

/// A row's values, taken in column order, each named in its error.
struct Values<'a> {
    columns: &'a [C],
    values: std::vec::IntoIter<SqlValue>,
    at: usize,
}

impl<'a> Values<'a> {
    fn new(columns: &'a [C], values: Vec<SqlValue>) -> Self {
        Self {
            columns,
            values: values.into_iter(),
            at: 0,
        }
    }

    fn next(&mut self) -> (&'static str, SqlValue) {
        let name = self.columns[self.at].target;
        self.at += 1;
        (name, self.values.next().unwrap_or(SqlValue::Text(None)))
    }

    fn text(&mut self) -> Result<String, String> {
        match self.next() {
            (_, SqlValue::Text(Some(t))) => Ok(t),
            (name, _) => Err(format!("{name}: missing")),
        }
    }

    fn int(&mut self) -> Result<i64, String> {
        match self.next() {
            (_, SqlValue::Int(Some(n))) => Ok(n),
            (name, _) => Err(format!("{name}: missing")),
        }
    }

    fn int32(&mut self) -> Result<i32, String> {
        let name = self.columns[self.at].target;
        let n = self.int()?;
        i32::try_from(n).map_err(|_| format!("{name}: {n} is out of range"))
    }

    fn float(&mut self) -> Result<f64, String> {
        match self.next() {
            (_, SqlValue::Float(Some(x))) => Ok(x),
            (name, _) => Err(format!("{name}: missing")),
        }
    }

    fn time(&mut self) -> Result<DateTime<Utc>, String> {
        match self.next() {
            (_, SqlValue::Time(Some(t))) => Ok(t),
            (name, _) => Err(format!("{name}: missing")),
        }
    }

    fn json(&mut self) -> serde_json::Value {
        match self.next() {
            (_, SqlValue::Json(v)) => v,
            _ => serde_json::Value::Null,
        }
    }

    fn vector(&mut self) -> Option<Vec<f32>> {
        match self.next() {
            (_, SqlValue::Vector(v)) => v,
            _ => None,
        }
    }
}

pub fn npc(id: i64, values: Vec<SqlValue>) -> Result<ImportedMemory<NewNpcMemory>, String> {
    let mut v = Values::new(&NPC_COLUMNS, values);
    let memory = NewNpcMemory {
        npc_id: v.int()?,
        speaker_id: v.int()?,
        speaker_name: v.text()?,
        npc_name: v.text()?,
        user_message: v.text()?,
        assistant_message: v.text()?,
        // An empty summary (the model's default) is made as the original makes it.
        summary: Some(v.text()?),
        interaction_type: Some(v.text()?),
        ..NewNpcMemory::default()
    };
    Ok(ImportedMemory {
        original_id: id,
        memory,
        created_at: v.time()?,
        updated_at: None,
        vector: v.vector(),
    })
}

pub fn combat(id: i64, values: Vec<SqlValue>) -> Result<ImportedMemory<NewCombatMemory>, String> {
    let mut v = Values::new(&COMBAT_COLUMNS, values);
    let mut memory = NewCombatMemory {
        mob_type: v.text()?,
        mob_level: v.int32()?,
        mob_name: v.text()?,
        party_composition: Some(v.json()),
        party_size: Some(v.int32()?),
        mob_tactics: v.text()?,
        enemy_tactics: v.text()?,
        rounds_survived: v.int32()?,
        outcome: v.text()?,
        ..NewCombatMemory::default()
    };
    memory.hp_remaining_pct = percent(v.float()?)?;
    memory.summary = v.text()?;
    Ok(ImportedMemory {
        original_id: id,
        memory,
        created_at: v.time()?,
        updated_at: None,
        vector: v.vector(),
    })
}

/// The original's fraction of hit points as a percentage, to 1e-9 (so 0.95
/// is 95, not 95.00000000000001).
fn percent(fraction: f64) -> Result<f64, String> {
    if !(0.0..=1.0).contains(&fraction) {
        return Err(format!(
            "hp_remaining_pct: {fraction} is not a fraction between 0 and 1, as the original stores it"
        ));
    }
    Ok((fraction * 1e11).round() / 1e9)
}

pub fn lore(id: i64, values: Vec<SqlValue>) -> Result<ImportedMemory<NewLoreMemory>, String> {
    let mut v = Values::new(&LORE_COLUMNS, values);
    let title = v.text()?;
    let content = v.text()?;
    let scope_level = v.text()?;
    let scope_tags = match v.json() {
        serde_json::Value::Null => Vec::new(),
        tags => serde_json::from_value(tags.clone())
            .map_err(|_| format!("scope_tags: {tags} is not a list of strings"))?,
    };
    let memory = NewLoreMemory {
        title,
        content,
        scope_level,
        scope_tags,
        source: v.text()?,
        ..NewLoreMemory::default()
    };
    Ok(ImportedMemory {
        original_id: id,
        memory,
        created_at: v.time()?,
        updated_at: Some(v.time()?),
        vector: v.vector(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_points_become_a_percentage() {
        assert_eq!(percent(0.95), Ok(95.0));
        assert_eq!(percent(0.0), Ok(0.0));
        assert_eq!(percent(0.123), Ok(12.3));
        assert_eq!(percent(1.0), Ok(100.0));
        assert!(percent(55.0).unwrap_err().starts_with("hp_remaining_pct"));
        assert!(percent(-0.1).is_err());
    }
}
