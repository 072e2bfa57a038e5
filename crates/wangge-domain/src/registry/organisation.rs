//! 实有法人: an organisation, identified by its unified social credit code.

use crate::identity::{CreditCode, MobileNumber};

use super::{Check, FieldErrors, Fields, HouseCode, one_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrgKind {
    Enterprise,
    /// 个体工商户
    IndividualBusiness,
    /// 社会组织
    SocialOrganisation,
    /// 机关
    Government,
    /// 事业单位
    PublicInstitution,
    Other,
}

impl OrgKind {
    const OPTIONS: [(&'static str, OrgKind); 12] = [
        ("enterprise", OrgKind::Enterprise),
        ("individual_business", OrgKind::IndividualBusiness),
        ("social_organisation", OrgKind::SocialOrganisation),
        ("government", OrgKind::Government),
        ("public_institution", OrgKind::PublicInstitution),
        ("other", OrgKind::Other),
        ("企业", OrgKind::Enterprise),
        ("个体工商户", OrgKind::IndividualBusiness),
        ("社会组织", OrgKind::SocialOrganisation),
        ("机关", OrgKind::Government),
        ("事业单位", OrgKind::PublicInstitution),
        ("其他", OrgKind::Other),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Enterprise => "enterprise",
            OrgKind::IndividualBusiness => "individual_business",
            OrgKind::SocialOrganisation => "social_organisation",
            OrgKind::Government => "government",
            OrgKind::PublicInstitution => "public_institution",
            OrgKind::Other => "other",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            OrgKind::Enterprise => "企业",
            OrgKind::IndividualBusiness => "个体工商户",
            OrgKind::SocialOrganisation => "社会组织",
            OrgKind::Government => "机关",
            OrgKind::PublicInstitution => "事业单位",
            OrgKind::Other => "其他",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Organisation {
    pub credit_code: CreditCode,
    pub name: String,
    pub kind: OrgKind,
    /// The room it occupies, when registered in the district's houses.
    pub house_code: Option<HouseCode>,
    /// As given; otherwise the grid of its house.
    pub grid_code: Option<String>,
    /// 负责人 / 法定代表人
    pub responsible_person: Option<String>,
    pub contact_phone: Option<MobileNumber>,
}

impl Organisation {
    pub const FIELDS: [&'static str; 7] = [
        "credit_code",
        "name",
        "org_kind",
        "house_code",
        "grid_code",
        "responsible_person",
        "contact_phone",
    ];

    pub fn from_fields(fields: &Fields) -> Result<Organisation, FieldErrors> {
        let mut check = Check::default();
        let credit_code =
            check
                .required(fields, "credit_code")
                .and_then(|t| match CreditCode::parse(t) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        check.fail("credit_code", e.to_string());
                        None
                    }
                });
        let name = check.required_text(fields, "name", 100);
        let kind = match fields.get("org_kind") {
            None => Some(OrgKind::Enterprise),
            Some(_) => one_of(&mut check, fields, "org_kind", &OrgKind::OPTIONS),
        };
        let house_code = fields
            .get("house_code")
            .and_then(|t| match HouseCode::parse(t) {
                Ok(c) => Some(c),
                Err(e) => {
                    check.fail("house_code", e);
                    None
                }
            });
        let grid_code = check.region_code(fields, "grid_code", 15);
        if house_code.is_none()
            && fields.get("house_code").is_none()
            && fields.get("grid_code").is_none()
        {
            check.fail("grid_code", "give the grid code or the house code");
        }
        let responsible_person = check.text(fields, "responsible_person", 50);
        let contact_phone =
            fields
                .get("contact_phone")
                .and_then(|t| match MobileNumber::parse(t) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        check.fail("contact_phone", e.to_string());
                        None
                    }
                });
        let org = match (credit_code, name, kind) {
            (Some(credit_code), Some(name), Some(kind)) => Some(Organisation {
                credit_code,
                name,
                kind,
                house_code,
                grid_code,
                responsible_person,
                contact_phone,
            }),
            _ => None,
        };
        check.finish(org)
    }

    pub fn to_fields(&self) -> Fields {
        let mut f = Fields::new();
        f.set("credit_code", self.credit_code.as_str());
        f.set("name", self.name.clone());
        f.set("org_kind", self.kind.as_str());
        if let Some(h) = &self.house_code {
            f.set("house_code", h.as_str());
        }
        if let Some(g) = &self.grid_code {
            f.set("grid_code", g.clone());
        }
        if let Some(p) = &self.responsible_person {
            f.set("responsible_person", p.clone());
        }
        if let Some(p) = &self.contact_phone {
            f.set("contact_phone", p.as_str());
        }
        f
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn code() -> String {
        let first = "91110108MA01A2B3C";
        format!("{first}{}", CreditCode::check_char(first))
    }

    #[test]
    fn an_organisation_reads_and_writes_back() {
        let f = Fields::new()
            .with("credit_code", code())
            .with("name", "示范科技有限公司")
            .with("org_kind", "企业")
            .with("grid_code", "990101001001001");
        let o = Organisation::from_fields(&f).unwrap();
        assert_eq!(o.kind, OrgKind::Enterprise);
        assert_eq!(Organisation::from_fields(&o.to_fields()).unwrap(), o);
    }

    #[test]
    fn a_bad_credit_code_is_named() {
        let f = Fields::new()
            .with("credit_code", "91110108MA01A2B3C0")
            .with("name", "x")
            .with("grid_code", "990101001001001");
        let e = Organisation::from_fields(&f).unwrap_err();
        assert_eq!(e.0[0].field, "credit_code");
    }
}
