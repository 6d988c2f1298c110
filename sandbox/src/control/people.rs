//! Pools of realistic names, places and companies for seed data. Names carry an ASCII form for
//! e-mail addresses; Japanese names carry a katakana reading (Outlook's yomi fields); East Asian
//! names are shown family name first, as people there write them.

/// A (native, ascii, reading) name part; the reading is empty where there is none.
pub type Name = (&'static str, &'static str, &'static str);

pub struct Culture {
    pub given: &'static [Name],
    pub family: &'static [Name],
    pub family_first: bool,
    /// (street pattern with `{n}`, city, state, postal code, country)
    pub places: &'static [(
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    )],
    /// Phone prefix and digits pattern (`#` is a random digit).
    pub phone: &'static str,
    pub mobile: &'static str,
}

pub static CULTURES: &[Culture] = &[
    Culture {
        given: &[
            ("太郎", "taro", "タロウ"),
            ("花子", "hanako", "ハナコ"),
            ("翔太", "shota", "ショウタ"),
            ("美咲", "misaki", "ミサキ"),
            ("健一", "kenichi", "ケンイチ"),
            ("由美", "yumi", "ユミ"),
        ],
        family: &[
            ("山田", "yamada", "ヤマダ"),
            ("佐藤", "sato", "サトウ"),
            ("鈴木", "suzuki", "スズキ"),
            ("高橋", "takahashi", "タカハシ"),
            ("渡辺", "watanabe", "ワタナベ"),
            ("伊藤", "ito", "イトウ"),
        ],
        family_first: true,
        places: &[
            ("丸の内{n}-1-1", "千代田区", "東京都", "100-0005", "日本"),
            ("梅田{n}-4-9", "大阪市北区", "大阪府", "530-0001", "日本"),
        ],
        phone: "+81 3-####-####",
        mobile: "+81 90-####-####",
    },
    Culture {
        given: &[
            ("José", "jose", ""),
            ("María", "maria", ""),
            ("Lucía", "lucia", ""),
            ("Andrés", "andres", ""),
        ],
        family: &[
            ("Müller", "mueller", ""),
            ("Núñez", "nunez", ""),
            ("García", "garcia", ""),
            ("Peña", "pena", ""),
        ],
        family_first: false,
        places: &[
            ("Calle de Alcalá {n}", "Madrid", "Madrid", "28014", "España"),
            (
                "Passeig de Gràcia {n}",
                "Barcelona",
                "Cataluña",
                "08007",
                "España",
            ),
        ],
        phone: "+34 91 ### ## ##",
        mobile: "+34 6## ### ###",
    },
    Culture {
        given: &[
            ("Zoë", "zoe", ""),
            ("Bjørn", "bjorn", ""),
            ("Åse", "ase", ""),
            ("Søren", "soren", ""),
        ],
        family: &[
            ("Ødegaard", "odegaard", ""),
            ("Sæther", "saether", ""),
            ("Løvås", "lovas", ""),
            ("Håkonsen", "hakonsen", ""),
        ],
        family_first: false,
        places: &[
            ("Karl Johans gate {n}", "Oslo", "Oslo", "0154", "Norge"),
            ("Bryggen {n}", "Bergen", "Vestland", "5003", "Norge"),
        ],
        phone: "+47 22 ## ## ##",
        mobile: "+47 9## ## ###",
    },
    Culture {
        given: &[
            ("Jürgen", "juergen", ""),
            ("Anneliese", "anneliese", ""),
            ("Jörg", "joerg", ""),
            ("Käthe", "kaethe", ""),
        ],
        family: &[
            ("Schäfer", "schaefer", ""),
            ("Groß", "gross", ""),
            ("Köhler", "koehler", ""),
            ("Weiß", "weiss", ""),
        ],
        family_first: false,
        places: &[
            (
                "Friedrichstraße {n}",
                "Berlin",
                "Berlin",
                "10117",
                "Deutschland",
            ),
            (
                "Königsallee {n}",
                "Düsseldorf",
                "NRW",
                "40212",
                "Deutschland",
            ),
        ],
        phone: "+49 30 ########",
        mobile: "+49 151 ########",
    },
    Culture {
        given: &[
            ("François", "francois", ""),
            ("Hélène", "helene", ""),
            ("Chloé", "chloe", ""),
            ("Raphaël", "raphael", ""),
        ],
        family: &[
            ("Lefèvre", "lefevre", ""),
            ("Dubois", "dubois", ""),
            ("Gauthier", "gauthier", ""),
            ("Bérard", "berard", ""),
        ],
        family_first: false,
        places: &[
            (
                "Rue de Rivoli {n}",
                "Paris",
                "Île-de-France",
                "75001",
                "France",
            ),
            (
                "Rue de la République {n}",
                "Lyon",
                "Auvergne-Rhône-Alpes",
                "69002",
                "France",
            ),
        ],
        phone: "+33 1 ## ## ## ##",
        mobile: "+33 6 ## ## ## ##",
    },
    Culture {
        given: &[
            ("Łukasz", "lukasz", ""),
            ("Agnieszka", "agnieszka", ""),
            ("Michał", "michal", ""),
            ("Małgorzata", "malgorzata", ""),
        ],
        family: &[
            ("Wiśniewski", "wisniewski", ""),
            ("Wójcik", "wojcik", ""),
            ("Kowalczyk", "kowalczyk", ""),
            ("Zieliński", "zielinski", ""),
        ],
        family_first: false,
        places: &[(
            "ul. Marszałkowska {n}",
            "Warszawa",
            "Mazowieckie",
            "00-624",
            "Polska",
        )],
        phone: "+48 22 ### ## ##",
        mobile: "+48 5## ### ###",
    },
    Culture {
        given: &[
            ("伟", "wei", ""),
            ("芳", "fang", ""),
            ("静", "jing", ""),
            ("磊", "lei", ""),
        ],
        family: &[
            ("王", "wang", ""),
            ("李", "li", ""),
            ("张", "zhang", ""),
            ("刘", "liu", ""),
        ],
        family_first: true,
        places: &[("南京东路{n}号", "上海", "上海市", "200001", "中国")],
        phone: "+86 21 #### ####",
        mobile: "+86 138 #### ####",
    },
    Culture {
        given: &[
            ("민준", "minjun", ""),
            ("서연", "seoyeon", ""),
            ("지호", "jiho", ""),
        ],
        family: &[("김", "kim", ""), ("이", "lee", ""), ("박", "park", "")],
        family_first: true,
        places: &[("세종대로 {n}", "서울", "서울특별시", "04524", "대한민국")],
        phone: "+82 2-####-####",
        mobile: "+82 10-####-####",
    },
    Culture {
        given: &[
            ("Emily", "emily", ""),
            ("James", "james", ""),
            ("Olivia", "olivia", ""),
            ("Noah", "noah", ""),
            ("Siobhán", "siobhan", ""),
        ],
        family: &[
            ("Smith", "smith", ""),
            ("O'Brien", "obrien", ""),
            ("Johnson", "johnson", ""),
            ("Williams", "williams", ""),
        ],
        family_first: false,
        places: &[
            ("{n} Pike Street", "Seattle", "WA", "98101", "United States"),
            (
                "{n} Baker Street",
                "London",
                "Greater London",
                "NW1 6XE",
                "United Kingdom",
            ),
        ],
        phone: "+1 206 555 ####",
        mobile: "+1 425 555 ####",
    },
];

/// (company name, e-mail domain)
pub static COMPANIES: &[(&str, &str)] = &[
    ("Contoso, Inc.", "contoso.example"),
    ("Zylker Corp", "zylker.example"),
    ("Fabrikam GmbH", "fabrikam.example"),
    ("株式会社ノースウィンド", "northwind.example.jp"),
    ("Tailspin Toys S.L.", "tailspin.example.es"),
    ("Nordlys AS", "nordlys.example.no"),
    ("Société Générale de Café", "sgcafe.example.fr"),
    ("Woodgrove Bank", "woodgrove.example"),
    ("上海星河贸易有限公司", "xinghe.example.cn"),
    ("Łódź Logistics Sp. z o.o.", "lodzlog.example.pl"),
];

/// (job title, department)
pub static ROLES: &[(&str, &str)] = &[
    ("Sales Manager", "Sales"),
    ("Account Executive", "Sales"),
    ("Head of Procurement", "Purchasing"),
    ("Chief Financial Officer", "Finance"),
    ("Marketing Specialist", "Marketing"),
    ("IT Director", "IT"),
    ("営業部長", "営業部"),
    ("Directora Comercial", "Ventas"),
    ("Einkaufsleiter", "Einkauf"),
    ("Customer Success Lead", "Customer Success"),
];

pub static PERSONAL_DOMAINS: &[&str] = &["gmail.example", "outlook.example", "yahoo.example.jp"];

pub static NOTES: &[&str] = &[
    "Met at the trade fair in Hannover.",
    "Prefers calls in the morning.",
    "展示会で名刺交換。",
    "Interested in the premium plan — follow up in Q3.",
    "",
];
