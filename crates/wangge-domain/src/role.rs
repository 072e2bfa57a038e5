//! The roles of a district command centre (DESIGN.md §1, §4).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// 网格员 / 监督员: reports, confirms public reports on the spot (核实), checks handled cases (核查).
    GridWorker,
    /// 受理员: registers reports and sends confirm/check tasks.
    Receiver,
    /// 值班长: opens (立案), closes (结案), approves voiding.
    ShiftLeader,
    /// 派遣员: dispatches; approves extensions, returns and suspensions.
    Dispatcher,
    /// 专业部门 user: accepts, handles, returns a wrong dispatch.
    UnitUser,
    /// 社区工作站
    Community,
    /// 街道分中心
    Street,
    /// 区指挥中心
    District,
    /// 监督指挥中心领导: urges, reads rankings.
    Supervisor,
    /// 系统管理员
    Admin,
}

impl Role {
    pub const ALL: [Role; 10] = [
        Role::GridWorker,
        Role::Receiver,
        Role::ShiftLeader,
        Role::Dispatcher,
        Role::UnitUser,
        Role::Community,
        Role::Street,
        Role::District,
        Role::Supervisor,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::GridWorker => "grid_worker",
            Role::Receiver => "receiver",
            Role::ShiftLeader => "shift_leader",
            Role::Dispatcher => "dispatcher",
            Role::UnitUser => "unit_user",
            Role::Community => "community",
            Role::Street => "street",
            Role::District => "district",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Role::GridWorker => "网格员",
            Role::Receiver => "受理员",
            Role::ShiftLeader => "值班长",
            Role::Dispatcher => "派遣员",
            Role::UnitUser => "专业部门",
            Role::Community => "社区工作站",
            Role::Street => "街道分中心",
            Role::District => "区指挥中心",
            Role::Supervisor => "监督指挥中心领导",
            Role::Admin => "系统管理员",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role '{0}'")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}
