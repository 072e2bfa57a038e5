//! Handling units (专业部门 / 职能部门 / 街道科室): the ones that fix what grid workers find.

/// The kinds of handling unit a district usually has.
pub const DEFAULT_UNIT_KINDS: &[(&str, &str)] = &[
    ("chengguan", "城管执法局"),
    ("shizheng", "市政管理处"),
    ("huanwei", "环境卫生管理所"),
    ("yuanlin", "园林绿化局"),
    ("jiaotong", "交通运输局"),
    ("gongan", "公安分局"),
    ("shuiwu", "水务局"),
    ("zhujian", "住房和城乡建设局"),
    ("shichang", "市场监督管理局"),
    ("gongdian", "供电公司"),
];
