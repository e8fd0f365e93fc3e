//! Actor resolution: which matches of actor names are mentions of the
//! actor, and the actor tags made of them.

use super::patterns::{Form, LAYER_ACTORS, Target};
use super::scan::Scan;
use super::tagger::Tagger;
use super::taxonomy::{Actor, Relevance};
use super::text::{self, preceded_by};
use crate::record::{ActorKind, ActorTag};

/// What the tagger keeps of a taxonomy actor.
pub(super) struct ActorInfo {
    id: String,
    name: String,
    kind: ActorKind,
    /// Names the war when mentioned (`relevance.anchors`).
    pub(super) anchor: bool,
    /// Confirms the war beyond doubt (`relevance.required`).
    pub(super) required: bool,
}

impl ActorInfo {
    pub(super) fn new(a: &Actor, r: &Relevance) -> ActorInfo {
        ActorInfo {
            id: a.id.clone(),
            name: a.name.clone(),
            kind: a.kind,
            anchor: r.anchors.contains(&a.id),
            required: r.required.contains(&a.id),
        }
    }
}

/// An actor mention that counts.
pub(super) struct Mention {
    pub(super) actor: usize,
    form: Form,
    pub(super) sentence: usize,
    start: usize,
    end: usize,
}

impl Scan<'_> {
    /// The actor matches that are mentions: not vetoed, seats that are not
    /// places, surnames of actors the article names in full somewhere.
    pub(super) fn mentions(&self, t: &Tagger) -> Vec<Mention> {
        let mut mentions = Vec::with_capacity(self.layer(LAYER_ACTORS).len());
        for h in self.layer(LAYER_ACTORS) {
            let Target::Actor { actor, form, .. } = h.target else {
                continue;
            };
            let sentence = self.sentence_of(h.start);
            let vetoed =
                form != Form::Alias && self.vetoes.binary_search(&(actor, sentence)).is_ok();
            if vetoed || (form == Form::Seat && self.seat_is_place(t, h.start, h.end)) {
                continue;
            }
            mentions.push(Mention {
                actor: actor as usize,
                form,
                sentence,
                start: h.start,
                end: h.end,
            });
        }
        let confirmed = self.named_in_full(t, &mentions);
        mentions.retain(|m| m.form != Form::Surname || confirmed[m.actor]);
        mentions
    }

    /// Per actor, whether a mention names it for sure: an alias, a cased
    /// name, or a surname after a title ("President Zelensky").
    fn named_in_full(&self, t: &Tagger, mentions: &[Mention]) -> Vec<bool> {
        let text = self.folded.text.as_str();
        let mut confirmed = vec![false; t.actors.len()];
        for m in mentions {
            if matches!(m.form, Form::Alias | Form::Cased)
                || (m.form == Form::Surname && preceded_by(text, m.start, &t.titles))
            {
                confirmed[m.actor] = true;
            }
        }
        confirmed
    }

    /// A seat is a place when the words around it say so, or when it is
    /// written in capitals: a dateline ("KYIV, Ukraine (Reuters) -").
    fn seat_is_place(&self, t: &Tagger, start: usize, end: usize) -> bool {
        let written = self.written(start, end);
        let dateline = written.chars().filter(|c| c.is_alphabetic()).count() > 1
            && !written.chars().any(char::is_lowercase);
        dateline || place_context(t, &self.folded.text, start, end)
    }

    /// One tag per actor mentioned, most mentioned first.
    pub(super) fn actor_tags(&self, t: &Tagger, mentions: &[Mention]) -> Vec<ActorTag> {
        // Per actor, its place in `out` (in order of first mention), so that
        // no tag is built for the many actors an article does not name.
        let mut slot = vec![u32::MAX; t.actors.len()];
        let mut out: Vec<ActorTag> = Vec::new();
        for m in mentions {
            let actor = m.actor;
            let spelling = self.written(m.start, m.end).trim();
            let i = match slot.get(actor) {
                Some(&i) if i != u32::MAX => i as usize,
                _ => {
                    slot[actor] = out.len() as u32;
                    out.push(empty_tag(&t.actors[actor]));
                    out.len() - 1
                }
            };
            let tag = &mut out[i];
            tag.mentions += 1;
            if !spelling.is_empty() && !tag.spellings.iter().any(|x| x == spelling) {
                tag.spellings.push(spelling.to_string());
            }
        }
        // Stable: equal counts keep the order of first mention.
        out.sort_by_key(|a| std::cmp::Reverse(a.mentions));
        out
    }
}

fn empty_tag(info: &ActorInfo) -> ActorTag {
    ActorTag {
        id: info.id.clone(),
        name: info.name.clone(),
        kind: info.kind,
        mentions: 0,
        spellings: Vec::new(),
    }
}

/// Whether the folded words around a seat make it a place ("in Kyiv",
/// "Kyiv region").
fn place_context(t: &Tagger, text: &str, start: usize, end: usize) -> bool {
    if preceded_by(text, start, &t.place_before) {
        return true;
    }
    let tail = text.get(end..).unwrap_or("");
    let tail = tail.strip_prefix("'s").unwrap_or(tail);
    let Some(tail) = tail.strip_prefix(' ') else {
        return false;
    };
    let first = tail.as_bytes().first();
    t.place_after.iter().any(|p| {
        p.as_bytes().first() == first
            && tail
                .strip_prefix(p.as_str())
                .is_some_and(|rest| !rest.chars().next().is_some_and(text::is_word))
    })
}
