//! `/me` and contact folders: list, get, create, child folders.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::error::GraphError;
use super::store::{Folder, Mailbox};
use super::{BASE_PATH, Caller, context, json_body};
use crate::links::BaseUrl;
use crate::state::{AppState, World};

pub(super) fn mailbox<'a>(world: &'a World, caller: &Caller) -> Result<&'a Mailbox, GraphError> {
    world
        .graph
        .mailboxes
        .get(&caller.mailbox_id)
        .ok_or_else(|| GraphError::unauthenticated("The mailbox of this token is gone."))
}

pub(super) fn mailbox_mut<'a>(
    world: &'a mut World,
    caller: &Caller,
) -> Result<&'a mut Mailbox, GraphError> {
    world
        .graph
        .mailboxes
        .get_mut(&caller.mailbox_id)
        .ok_or_else(|| GraphError::unauthenticated("The mailbox of this token is gone."))
}

pub fn folder_json(folder: &Folder) -> Value {
    json!({
        "id": folder.id,
        "displayName": folder.display_name,
        "parentFolderId": folder.parent_folder_id,
    })
}

/// `GET /me`: the signed-in user, enough for a connection to name the account.
pub async fn me(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
) -> Result<Json<Value>, GraphError> {
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    Ok(Json(json!({
        "@odata.context": format!("{base}{BASE_PATH}/$metadata#users/$entity"),
        "id": mailbox.id,
        "displayName": mailbox.display_name,
        "mail": mailbox.email,
        "userPrincipalName": mailbox.email,
    })))
}

fn folder_list(base: &str, mailbox: &Mailbox, folders: Vec<&Folder>) -> Json<Value> {
    Json(json!({
        "@odata.context": context(base, &mailbox.id, "contactFolders"),
        "value": folders.into_iter().map(folder_json).collect::<Vec<_>>(),
    }))
}

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
) -> Result<Json<Value>, GraphError> {
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    Ok(folder_list(
        &base,
        mailbox,
        mailbox.children_of(&mailbox.root_folder_id),
    ))
}

pub async fn get_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(folder_id): Path<String>,
) -> Result<Json<Value>, GraphError> {
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    let folder = mailbox
        .folder(&folder_id)
        .ok_or_else(GraphError::item_not_found)?;
    let mut body = folder_json(folder);
    body["@odata.context"] = json!(context(&base, &mailbox.id, "contactFolders/$entity"));
    Ok(Json(body))
}

pub async fn list_children(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(folder_id): Path<String>,
) -> Result<Json<Value>, GraphError> {
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    mailbox
        .folder(&folder_id)
        .ok_or_else(GraphError::item_not_found)?;
    Ok(folder_list(&base, mailbox, mailbox.children_of(&folder_id)))
}

pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    body: Bytes,
) -> Result<Response, GraphError> {
    let mut world = state.world();
    let mailbox = mailbox_mut(&mut world, &caller)?;
    let parent = mailbox.root_folder_id.clone();
    create_in(mailbox, &parent, &base, &body)
}

pub async fn create_child(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(folder_id): Path<String>,
    body: Bytes,
) -> Result<Response, GraphError> {
    let mut world = state.world();
    let mailbox = mailbox_mut(&mut world, &caller)?;
    mailbox
        .folder(&folder_id)
        .ok_or_else(GraphError::item_not_found)?;
    create_in(mailbox, &folder_id, &base, &body)
}

fn create_in(
    mailbox: &mut Mailbox,
    parent_id: &str,
    base: &str,
    body: &Bytes,
) -> Result<Response, GraphError> {
    let body = json_body(body)?;
    let Value::Object(fields) = &body else {
        return Err(GraphError::body_read("A 'StartObject' node was expected."));
    };
    let mut display_name = None;
    for (name, value) in fields {
        match name.as_str() {
            "displayName" => display_name = value.as_str().map(str::trim),
            "parentFolderId" | "id" => {}
            n if n.starts_with('@') => {}
            other => {
                return Err(GraphError::body_read(format!(
                    "The property '{other}' does not exist on type \
                     'Microsoft.OutlookServices.ContactFolder'."
                )));
            }
        }
    }
    let Some(display_name) = display_name.filter(|n| !n.is_empty()) else {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            "The DisplayName property is required to create a folder.",
        ));
    };
    let folder = mailbox
        .create_folder(parent_id, display_name)
        .map_err(|_| {
            GraphError::new(
                StatusCode::CONFLICT,
                "ErrorFolderExists",
                "A folder with the specified name already exists.",
            )
        })?;
    let mut answer = folder_json(&folder);
    answer["@odata.context"] = json!(context(base, &mailbox.id, "contactFolders/$entity"));
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}
