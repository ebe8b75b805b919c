//! Route tables: the default route (internet or NAT gateway) and the subnets associated.

use aws_sdk_ec2::types::ResourceType;

use super::ec2_common::{ignore_missing, missing, owned, ownership_filters, tag_spec};
use super::{Provider, Scan};
use crate::aws::{
    attrs, call_error, observed, once_visible, require, Aws, AwsError, DeleteOptions, Progress,
    Quiet, Resolved,
};
use crate::model::*;
use crate::plan::{Attrs, Observed};

async fn associate(aws: &Aws, id: &str, table_id: &str, subnet: &str) -> Result<String, AwsError> {
    // The table (and maybe the subnet) was just created: wait until AWS sees them.
    let out = once_visible(aws, &Quiet, || async {
        aws.ec2
            .associate_route_table()
            .route_table_id(table_id)
            .subnet_id(subnet)
            .send()
            .await
            .map_err(|e| call_error(id, "AssociateRouteTable", e))
    })
    .await?;
    Ok(format!(
        "{subnet}={}",
        out.association_id().unwrap_or_default()
    ))
}

async fn set_default_route(
    aws: &Aws,
    id: &str,
    table_id: &str,
    spec: &RouteTableSpec,
    resolved: &Resolved,
    replace: bool,
) -> Result<(), AwsError> {
    let target = resolved.get(&spec.default_route, "id")?;
    let is_nat = target.starts_with("nat-");
    if replace {
        let mut call = aws
            .ec2
            .replace_route()
            .route_table_id(table_id)
            .destination_cidr_block("0.0.0.0/0");
        call = if is_nat {
            call.nat_gateway_id(&target)
        } else {
            call.gateway_id(&target)
        };
        let replaced = call
            .send()
            .await
            .map_err(|e| call_error(id, "ReplaceRoute", e));
        // A run interrupted between creating the table and its route left no route to
        // replace: create it instead.
        match replaced {
            Ok(_) => return Ok(()),
            Err(err)
                if err.code() == Some("InvalidRoute.NotFound")
                    || err.code() == Some("InvalidParameterValue") => {}
            Err(err) => return Err(err),
        }
    }
    // The table and its target (internet or NAT gateway) may be minutes old.
    once_visible(aws, &Quiet, || async {
        let call = aws
            .ec2
            .create_route()
            .route_table_id(table_id)
            .destination_cidr_block("0.0.0.0/0");
        let call = if is_nat {
            call.nat_gateway_id(&target)
        } else {
            call.gateway_id(&target)
        };
        call.send()
            .await
            .map_err(|e| call_error(id, "CreateRoute", e))
    })
    .await?;
    Ok(())
}

fn parse_associations(current: &Attrs) -> Vec<(String, String)> {
    current
        .get("_associations")
        .map(|s| {
            s.split(',')
                .filter_map(|pair| pair.split_once('='))
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

impl Provider for super::RouteTable {
    type Spec = RouteTableSpec;

    fn gone(code: &str) -> bool {
        missing(code)
    }

    async fn observe(scan: &Scan<'_>) -> Result<Vec<Observed>, AwsError> {
        let aws = scan.aws;
        let tables = aws
            .ec2
            .describe_route_tables()
            .set_filters(Some(ownership_filters(aws)))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| call_error("route tables", "DescribeRouteTables", e))?;
        Ok(tables
            .iter()
            .filter_map(|table| {
                let id = owned(aws, table.tags())?;
                let default_route = table
                    .routes()
                    .iter()
                    .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
                    .and_then(|r| r.nat_gateway_id().or(r.gateway_id()))
                    .unwrap_or_default();
                let mut associations = Vec::new();
                let mut subnets = Vec::new();
                for association in table.associations() {
                    if let (Some(subnet), Some(assoc)) = (
                        association.subnet_id(),
                        association.route_table_association_id(),
                    ) {
                        subnets.push(Ref::physical(subnet));
                        associations.push(format!("{subnet}={assoc}"));
                    }
                }
                Some(observed(
                    &id,
                    Kind::RouteTable,
                    RouteTableSpec {
                        vpc: Ref::physical(table.vpc_id().unwrap_or_default()),
                        default_route: Ref::physical(default_route),
                        subnets,
                    },
                    attrs([
                        ("id", table.route_table_id().map(str::to_owned)),
                        // Not an identifier of the table; kept for updates and deletes.
                        ("_associations", Some(associations.join(","))),
                    ]),
                ))
            })
            .collect())
    }

    async fn create(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        resolved: &Resolved,
        _progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let out = aws
            .ec2
            .create_route_table()
            .vpc_id(resolved.get(&spec.vpc, "id")?)
            .tag_specifications(tag_spec(aws, id, ResourceType::RouteTable))
            .send()
            .await
            .map_err(|e| call_error(id, "CreateRouteTable", e))?;
        let table_id = out
            .route_table()
            .and_then(|t| t.route_table_id())
            .unwrap_or_default()
            .to_owned();
        set_default_route(aws, id, &table_id, spec, resolved, false).await?;
        let mut associations = Vec::new();
        for subnet in resolved.all(&spec.subnets, "id")? {
            associations.push(associate(aws, id, &table_id, &subnet).await?);
        }
        Ok(attrs([
            ("id", Some(table_id)),
            ("_associations", Some(associations.join(","))),
        ]))
    }

    async fn update(
        aws: &Aws,
        id: &str,
        spec: &Self::Spec,
        current: &Attrs,
        resolved: &Resolved,
        _progress: &dyn Progress,
    ) -> Result<Attrs, AwsError> {
        let table_id = require(current, id, "id")?;
        set_default_route(aws, id, &table_id, spec, resolved, true).await?;
        let wanted = resolved.all(&spec.subnets, "id")?;
        let mut associations = Vec::new();
        for (subnet, association) in parse_associations(current) {
            if wanted.contains(&subnet) {
                associations.push(format!("{subnet}={association}"));
            } else {
                aws.ec2
                    .disassociate_route_table()
                    .association_id(association)
                    .send()
                    .await
                    .map_err(|e| call_error(id, "DisassociateRouteTable", e))?;
            }
        }
        for subnet in wanted {
            if !associations
                .iter()
                .any(|a| a.starts_with(&format!("{subnet}=")))
            {
                associations.push(associate(aws, id, &table_id, &subnet).await?);
            }
        }
        Ok(attrs([
            ("id", Some(table_id)),
            ("_associations", Some(associations.join(","))),
        ]))
    }

    async fn delete(
        aws: &Aws,
        id: &str,
        current: &Attrs,
        _options: &DeleteOptions,
        _progress: &dyn Progress,
    ) -> Result<(), AwsError> {
        for (_, association) in parse_associations(current) {
            ignore_missing(
                aws.ec2
                    .disassociate_route_table()
                    .association_id(association)
                    .send()
                    .await
                    .map_err(|e| call_error(id, "DisassociateRouteTable", e)),
            )?;
        }
        ignore_missing(
            aws.ec2
                .delete_route_table()
                .route_table_id(require(current, id, "id")?)
                .send()
                .await
                .map_err(|e| call_error(id, "DeleteRouteTable", e)),
        )
    }
}
